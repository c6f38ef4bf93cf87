-- output: big
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
WHERE
  COALESCE((
    "amount" >= 5
  ), FALSE);
-- output: small
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
WHERE
  COALESCE((
    "amount" < 5
  ), FALSE) AND NOT COALESCE((
    "amount" >= 5
  ), FALSE);
-- output: rest
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
WHERE
  NOT COALESCE((
    "amount" >= 5
  ), FALSE)
  AND NOT COALESCE((
    "amount" < 5
  ), FALSE);
