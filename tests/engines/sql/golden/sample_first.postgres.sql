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
  "customer" COLLATE "C" ASC,
  "qty" ASC,
  "note" COLLATE "C" ASC,
  "day" ASC,
  "ts" ASC,
  "paid" ASC
LIMIT 2;
