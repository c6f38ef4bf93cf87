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
  CAST(ROW_NUMBER() OVER (
    PARTITION BY "customer"
    ORDER BY "id" ASC, "amount" ASC, "qty" ASC, "note" COLLATE "C" ASC, "day" ASC, "ts" ASC, "paid" ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) AS BIGINT) AS "row_number",
  CAST(RANK() OVER (PARTITION BY "customer" ORDER BY "id" ASC) AS BIGINT) AS "rank",
  LAG("amount", 1) OVER (
    PARTITION BY "customer"
    ORDER BY "id" ASC, "amount" ASC, "qty" ASC, "note" COLLATE "C" ASC, "day" ASC, "ts" ASC, "paid" ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) AS "amount_lag",
  LEAD("qty", 2) OVER (
    PARTITION BY "customer"
    ORDER BY "id" ASC, "amount" ASC, "qty" ASC, "note" COLLATE "C" ASC, "day" ASC, "ts" ASC, "paid" ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) AS "qty_lead",
  CAST(SUM("qty") OVER (
    PARTITION BY "customer"
    ORDER BY "id" ASC, "amount" ASC, "qty" ASC, "note" COLLATE "C" ASC, "day" ASC, "ts" ASC, "paid" ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) AS BIGINT) AS "running_qty",
  AVG(CAST("amount" AS DOUBLE PRECISION)) OVER (
    PARTITION BY "customer"
    ORDER BY "id" ASC, "amount" ASC, "qty" ASC, "note" COLLATE "C" ASC, "day" ASC, "ts" ASC, "paid" ASC
    ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING
  ) AS "amount_avg",
  COUNT(*) OVER (
    PARTITION BY "customer"
    ORDER BY "id" ASC, "amount" ASC, "qty" ASC, "note" COLLATE "C" ASC, "day" ASC, "ts" ASC, "paid" ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  ) AS "n_rows"
FROM "orders" AS "_in";
