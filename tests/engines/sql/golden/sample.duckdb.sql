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
  SUBSTRING(
    MD5(
      '7' || '|' || COALESCE(CAST("id" AS TEXT), '') || '|' || COALESCE("customer", '')
    ),
    1,
    8
  ) < '80000000';
