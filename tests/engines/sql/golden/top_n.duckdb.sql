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
  CAST("_rn_first" AS BIGINT) AS "rank"
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
      ORDER BY "amount" DESC NULLS FIRST, "id" ASC, "customer" ASC, "qty" ASC, "note" ASC, "day" ASC, "ts" ASC
    ) AS "_rn_first",
    ROW_NUMBER() OVER (
      PARTITION BY "paid"
      ORDER BY "amount" ASC, "id" DESC NULLS FIRST, "customer" DESC NULLS FIRST, "qty" DESC NULLS FIRST, "note" DESC NULLS FIRST, "day" DESC NULLS FIRST, "ts" DESC NULLS FIRST
    ) AS "_rn_last"
  FROM "orders" AS "_in"
) AS "_ranked"
WHERE
  "_rn_first" <= 1 OR "_rn_last" <= 1;
