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
      ORDER BY "amount" DESC, "id" ASC, "customer" COLLATE "C" ASC, "qty" ASC, "note" COLLATE "C" ASC, "day" ASC, "ts" ASC
    ) AS "_rn_first",
    ROW_NUMBER() OVER (
      PARTITION BY "paid"
      ORDER BY "amount" ASC, "id" DESC, "customer" COLLATE "C" DESC, "qty" DESC, "note" COLLATE "C" DESC, "day" DESC, "ts" DESC
    ) AS "_rn_last"
  FROM "orders" AS "_in"
) AS "_ranked"
WHERE
  "_rn_first" <= 1 OR "_rn_last" <= 1;
