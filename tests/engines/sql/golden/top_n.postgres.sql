-- output: out
SELECT
  "id",
  "customer",
  "amount",
  "qty",
  "note",
  "day",
  "ts",
  "paid",
  CAST("_rn" AS BIGINT) AS "rank"
FROM (
  SELECT
    "id",
    "customer",
    "amount",
    "qty",
    "note",
    "day",
    "ts",
    "paid",
    ROW_NUMBER() OVER (
      PARTITION BY "paid"
      ORDER BY "amount" DESC, "id" ASC, "customer" COLLATE "C" ASC, "qty" ASC, "note" COLLATE "C" ASC, "day" ASC, "ts" ASC
    ) AS "_rn",
    COUNT(*) OVER (PARTITION BY "paid") AS "_size"
  FROM "orders" AS "_in"
) AS "_ranked"
WHERE
  "_rn" <= 1 OR "_rn" > "_size" - 1;
