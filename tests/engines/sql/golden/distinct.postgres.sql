-- output: out
SELECT
  "customer",
  "paid",
  COUNT(*) AS "n"
FROM "orders" AS "_in"
GROUP BY
  "customer",
  "paid";
