-- output: out
SELECT
  "_j0"."id",
  "_j0"."customer",
  "_j0"."amount",
  "_j0"."qty",
  "_j0"."note",
  "_j0"."day",
  "_j0"."ts",
  "_j0"."paid",
  "_j1"."city" AS "c_city",
  "_j1"."tier" AS "c_tier"
FROM "orders" AS "_j0"
LEFT JOIN "customers" AS "_j1"
  ON "_j0"."customer" = "_j1"."name";
-- output: lonely
SELECT
  "_j0"."id",
  "_j0"."customer",
  "_j0"."amount",
  "_j0"."qty",
  "_j0"."note",
  "_j0"."day",
  "_j0"."ts",
  "_j0"."paid"
FROM "orders" AS "_j0"
WHERE
  NOT EXISTS(
    SELECT
      1
    FROM "customers" AS "_j1"
    WHERE
      "_j0"."customer" = "_j1"."name"
  );
