-- output: out
SELECT
  "customer",
  COUNT(*) AS "count",
  COUNT("amount") AS "amount_count",
  COUNT(DISTINCT "qty") AS "qty_count_distinct",
  CAST(SUM("qty") AS BIGINT) AS "qty_sum",
  SUM("amount") AS "amount_sum",
  AVG(CAST("qty" AS DOUBLE PRECISION)) AS "qty_avg",
  MIN("note" COLLATE "C") AS "note_min",
  BOOL_OR("paid") AS "paid_max",
  STDDEV_SAMP(CAST("amount" AS DOUBLE PRECISION)) AS "amount_stddev",
  (
    ARRAY_AGG("note" ORDER BY "id" ASC, "note" COLLATE "C" ASC)
  )[1] AS "note_first",
  (
    ARRAY_AGG("amount" ORDER BY "id" DESC, "amount" DESC)
  )[1] AS "amount_last",
  STRING_AGG(CAST("id" AS TEXT), ';'
  ORDER BY
    "id" DESC,
    "id" ASC) AS "id_concat"
FROM "orders" AS "_in"
GROUP BY
  "customer";
