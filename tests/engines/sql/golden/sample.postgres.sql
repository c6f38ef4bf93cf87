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
WHERE
  SUBSTRING(MD5(
    '7' || '|' || COALESCE(CAST("id" AS TEXT), '') || '|' || COALESCE("customer", '')
  ) FROM 1 FOR 8) COLLATE "C" < '80000000';
