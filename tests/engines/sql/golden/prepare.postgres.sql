-- output: out
SELECT
  "id",
  "who",
  "ratio",
  "rem",
  "half",
  "note",
  "label",
  "p1",
  "p2",
  "p3",
  "tail",
  "dow",
  "hours",
  "size",
  "rich",
  "amount",
  "bucket"
FROM (
  SELECT
    "id",
    "who",
    "amount",
    "qty",
    "note",
    "day",
    "paid",
    "ratio",
    "rem",
    "half",
    "label",
    "p1",
    "p2",
    "p3",
    "tail",
    "dow",
    "hours",
    "size",
    "rich",
    "bucket"
  FROM (
    SELECT
      "id",
      "who",
      "amount",
      "qty",
      "note",
      "day",
      "ts",
      "paid",
      "ratio",
      "rem",
      "half",
      "label",
      "p1",
      "p2",
      "p3",
      "tail",
      "dow",
      "hours",
      "size",
      "rich",
      FLOOR(CAST("amount" AS DOUBLE PRECISION) / CAST(5.0 AS DOUBLE PRECISION)) * CAST(5.0 AS DOUBLE PRECISION) AS "bucket"
    FROM (
      SELECT
        "id",
        "who",
        TRUNC("amount" + SIGN("amount") * CAST('0.49999999999999994' AS DOUBLE PRECISION)) AS "amount",
        "qty",
        "note",
        "day",
        "ts",
        "paid",
        "ratio",
        "rem",
        "half",
        "label",
        "p1",
        "p2",
        "p3",
        "tail",
        "dow",
        "hours",
        "size",
        "rich"
      FROM (
        SELECT
          "id",
          "who",
          "amount",
          "qty",
          "note",
          "day",
          "ts",
          "paid",
          "ratio",
          "rem",
          "half",
          "label",
          "p1",
          "p2",
          "p3",
          "tail",
          "dow",
          "hours",
          "size",
          COALESCE((
            "amount" > 5
          ), FALSE) AS "rich"
        FROM (
          SELECT
            "id",
            "who",
            "amount",
            "qty",
            "note",
            "day",
            "ts",
            "paid",
            "ratio",
            "rem",
            "half",
            "label",
            "p1",
            "p2",
            "p3",
            "tail",
            "dow",
            "hours",
            CASE WHEN "qty" > 2 THEN 'big' ELSE 'small' END AS "size"
          FROM (
            SELECT
              "id",
              "who",
              "amount",
              "qty",
              "note",
              "day",
              "ts",
              "paid",
              "ratio",
              "rem",
              "half",
              "label",
              "p1",
              "p2",
              "p3",
              "tail",
              "dow",
              CAST(CASE
                WHEN ABS(DATE_PART('epoch', (
                  CAST("ts" AS TIMESTAMP) - CAST("day" AS TIMESTAMP)
                ))) < 1073741824
                THEN ROUND(
                  DATE_PART('epoch', (
                    CAST("ts" AS TIMESTAMP) - CAST("day" AS TIMESTAMP)
                  )) * 1000000
                )
                ELSE CAST(EXTRACT(EPOCH FROM (
                  CAST("ts" AS TIMESTAMP) - CAST("day" AS TIMESTAMP)
                )) * 1000000 AS DOUBLE PRECISION)
              END AS DOUBLE PRECISION) / 3600000000 AS "hours"
            FROM (
              SELECT
                "id",
                "who",
                "amount",
                "qty",
                "note",
                "day",
                "ts",
                "paid",
                "ratio",
                "rem",
                "half",
                "label",
                "p1",
                "p2",
                "p3",
                "tail",
                CAST(DATE_PART('isodow', "ts") AS BIGINT) AS "dow"
              FROM (
                SELECT
                  "id",
                  "who",
                  "amount",
                  "qty",
                  "note",
                  "day",
                  "ts",
                  "paid",
                  "ratio",
                  "rem",
                  "half",
                  "label",
                  "p1",
                  "p2",
                  "p3",
                  NULLIF((
                    REGEXP_MATCH("who", '(^([A-Z])([A-Z]+))')
                  )[3], '') AS "tail"
                FROM (
                  SELECT
                    "id",
                    "who",
                    "amount",
                    "qty",
                    "note",
                    "day",
                    "ts",
                    "paid",
                    "ratio",
                    "rem",
                    "half",
                    "label",
                    NULLIF(SPLIT_PART("label", '/', 1), '') AS "p1",
                    NULLIF(SPLIT_PART("label", '/', 2), '') AS "p2",
                    NULLIF(SPLIT_PART("label", '/', 3), '') AS "p3"
                  FROM (
                    SELECT
                      "id",
                      "who",
                      "amount",
                      "qty",
                      "note",
                      "day",
                      "ts",
                      "paid",
                      "ratio",
                      "rem",
                      "half",
                      SUBSTRING(CASE WHEN "who" IS NULL THEN '' ELSE '/' || "who" END || CASE WHEN CAST("qty" AS TEXT) IS NULL THEN '' ELSE '/' || CAST("qty" AS TEXT) END FROM 2) AS "label"
                    FROM (
                      SELECT
                        "id",
                        UPPER("who") AS "who",
                        "amount",
                        "qty",
                        "note",
                        "day",
                        "ts",
                        "paid",
                        "ratio",
                        "rem",
                        "half"
                      FROM (
                        SELECT
                          "id",
                          TRIM(' ' FROM "who") AS "who",
                          "amount",
                          "qty",
                          "note",
                          "day",
                          "ts",
                          "paid",
                          "ratio",
                          "rem",
                          "half"
                        FROM (
                          SELECT
                            "id",
                            CASE WHEN "who" = 'bob' THEN 'robert' ELSE "who" END AS "who",
                            "amount",
                            "qty",
                            "note",
                            "day",
                            "ts",
                            "paid",
                            "ratio",
                            "rem",
                            "half"
                          FROM (
                            SELECT
                              "id",
                              CASE WHEN "who" IS NULL OR "who" = '' THEN '?' ELSE "who" END AS "who",
                              "amount",
                              "qty",
                              "note",
                              "day",
                              "ts",
                              "paid",
                              "ratio",
                              "rem",
                              "half"
                            FROM (
                              SELECT
                                "id",
                                "customer" AS "who",
                                "amount",
                                "qty",
                                "note",
                                "day",
                                "ts",
                                "paid",
                                "ratio",
                                "rem",
                                "half"
                              FROM (
                                SELECT
                                  "id",
                                  "customer",
                                  "amount",
                                  "qty",
                                  CASE
                                    WHEN TRIM(' ' FROM "note") ~ '^[+-]?[0-9]+$'
                                    THEN CASE
                                      WHEN CAST(TRIM(' ' FROM "note") AS DECIMAL) BETWEEN -9223372036854775808 AND 9223372036854775807
                                      THEN CAST(TRIM(' ' FROM "note") AS BIGINT)
                                    END
                                  END AS "note",
                                  "day",
                                  "ts",
                                  "paid",
                                  "ratio",
                                  "rem",
                                  "half"
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
                                    "ratio",
                                    "rem",
                                    CAST(CASE
                                      WHEN ABS(
                                        (
                                          CAST("amount" AS DOUBLE PRECISION) / NULLIF(CAST(4 AS DOUBLE PRECISION), 0)
                                        )
                                      ) < 4503599627370496.0
                                      THEN CAST(TRUNC(
                                        (
                                          CAST("amount" AS DOUBLE PRECISION) / NULLIF(CAST(4 AS DOUBLE PRECISION), 0)
                                        ) * 10 + SIGN(
                                          (
                                            CAST("amount" AS DOUBLE PRECISION) / NULLIF(CAST(4 AS DOUBLE PRECISION), 0)
                                          ) * 10
                                        ) * CAST('0.49999999999999994' AS DOUBLE PRECISION)
                                      ) AS DOUBLE PRECISION) / 10
                                      ELSE (
                                        CAST("amount" AS DOUBLE PRECISION) / NULLIF(CAST(4 AS DOUBLE PRECISION), 0)
                                      )
                                    END AS DOUBLE PRECISION) AS "half"
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
                                      "ratio",
                                      CAST("qty" % NULLIF(4, 0) AS BIGINT) AS "rem"
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
                                        CAST(CAST("qty" AS DOUBLE PRECISION) / NULLIF(CAST(2 AS DOUBLE PRECISION), 0) AS DOUBLE PRECISION) AS "ratio"
                                      FROM (
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
                                          "id" <> 4
                                      ) AS "_s1"
                                    ) AS "_s2"
                                  ) AS "_s3"
                                ) AS "_s4"
                              ) AS "_s5"
                            ) AS "_s6"
                          ) AS "_s7"
                        ) AS "_s8"
                      ) AS "_s9"
                    ) AS "_s10"
                  ) AS "_s11"
                ) AS "_s12"
              ) AS "_s13"
            ) AS "_s14"
          ) AS "_s15"
        ) AS "_s16"
      ) AS "_s17"
    ) AS "_s18"
  ) AS "_s19"
) AS "_s20";
