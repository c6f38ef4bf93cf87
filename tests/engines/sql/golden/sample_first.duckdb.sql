-- output: out
SELECT
  "id",
  "customer",
  "amount",
  "qty",
  "note",
  "day",
  "ts",
  "paid"
FROM "orders" AS "_in"
ORDER BY
  "amount" ASC NULLS FIRST,
  "id" ASC,
  "customer" ASC,
  "qty" ASC,
  "note" ASC,
  "day" ASC,
  "ts" ASC,
  "paid" ASC
LIMIT 2;
