-- output: out
SELECT
  "paid",
  COUNT(CASE WHEN "customer" = 'alice' THEN 1 END) AS "alice_count",
  CAST(SUM(CASE WHEN "customer" = 'alice' THEN "qty" END) AS BIGINT) AS "alice_qty_sum",
  COUNT(CASE WHEN "customer" = 'bob' THEN 1 END) AS "bob_count",
  CAST(SUM(CASE WHEN "customer" = 'bob' THEN "qty" END) AS BIGINT) AS "bob_qty_sum"
FROM "orders" AS "_in"
GROUP BY
  "paid";
