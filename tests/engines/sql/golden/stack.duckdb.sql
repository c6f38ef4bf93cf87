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
  CAST(NULL AS TEXT) AS "name",
  CAST(NULL AS TEXT) AS "city",
  CAST(NULL AS BIGINT) AS "tier",
  'orders' AS "src"
FROM "orders" AS "_in0"
UNION ALL
SELECT
  CAST(NULL AS BIGINT) AS "id",
  CAST(NULL AS TEXT) AS "customer",
  CAST(NULL AS DOUBLE) AS "amount",
  CAST(NULL AS BIGINT) AS "qty",
  CAST(NULL AS TEXT) AS "note",
  CAST(NULL AS DATE) AS "day",
  CAST(NULL AS TIMESTAMP) AS "ts",
  CAST(NULL AS BOOLEAN) AS "paid",
  "name",
  "city",
  "tier",
  'customers' AS "src"
FROM "customers" AS "_in1";
