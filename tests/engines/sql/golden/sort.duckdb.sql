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
  "customer" ASC,
  "amount" DESC NULLS FIRST,
  "id" ASC,
  "qty" ASC,
  "note" ASC,
  "day" ASC,
  "ts" ASC,
  "paid" ASC;
