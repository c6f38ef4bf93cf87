-- output: train
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
  SUBSTRING(MD5('42' || '|' || COALESCE(CAST("id" AS TEXT), '')), 1, 8) < 'b3333333';
-- output: test
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
  SUBSTRING(MD5('42' || '|' || COALESCE(CAST("id" AS TEXT), '')), 1, 8) >= 'b3333333';
