-- output: out
SELECT
  "customer",
  COUNT(*) AS "count",
  COUNT("amount") AS "amount_count",
  COUNT(DISTINCT "qty") AS "qty_count_distinct",
  CAST(SUM("qty") AS BIGINT) AS "qty_sum",
  SUM("amount") AS "amount_sum",
  AVG(CAST("qty" AS DOUBLE)) AS "qty_avg",
  MIN("note") AS "note_min",
  BOOL_OR(CAST("paid" AS BOOLEAN)) AS "paid_max",
  STDDEV_SAMP(CAST("amount" AS DOUBLE)) AS "amount_stddev",
  FIRST("note" ORDER BY "id" ASC, "note" ASC) AS "note_first",
  FIRST("amount" ORDER BY "id" DESC NULLS FIRST, "amount" DESC NULLS FIRST) AS "amount_last",
  LISTAGG(CAST("id" AS TEXT), ';'
  ORDER BY
    "id" DESC NULLS FIRST,
    "id" ASC) AS "id_concat"
FROM "orders" AS "_in"
GROUP BY
  "customer";
