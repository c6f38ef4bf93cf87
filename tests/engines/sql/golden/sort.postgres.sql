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
  "customer" COLLATE "C" ASC,
  "amount" DESC,
  "id" ASC,
  "qty" ASC,
  "note" COLLATE "C" ASC,
  "day" ASC,
  "ts" ASC,
  "paid" ASC;
