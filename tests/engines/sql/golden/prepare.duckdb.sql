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
      FLOOR(CAST("amount" AS DOUBLE) / CAST(5.0 AS DOUBLE)) * CAST(5.0 AS DOUBLE) AS "bucket"
    FROM (
      SELECT
        "id",
        "who",
        ROUND("amount") AS "amount",
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
              CAST(EPOCH_US(CAST("ts" AS TIMESTAMP)) - EPOCH_US(CAST("day" AS TIMESTAMP)) AS DOUBLE) / 3600000000 AS "hours"
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
                CAST(EXTRACT(ISODOW FROM "ts") AS BIGINT) AS "dow"
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
                  NULLIF(REGEXP_EXTRACT("who", '^([A-Z])([A-Z]+)', 2), '') AS "tail"
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
                      SUBSTRING(
                        CASE WHEN "who" IS NULL THEN '' ELSE '/' || "who" END || CASE WHEN CAST("qty" AS TEXT) IS NULL THEN '' ELSE '/' || CAST("qty" AS TEXT) END,
                        2
                      ) AS "label"
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
                          TRIM("who", ' ') AS "who",
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
                                    WHEN REGEXP_MATCHES(TRIM("note", ' '), '^[+-]?[0-9]+$')
                                    THEN TRY_CAST(TRIM("note", ' ') AS BIGINT)
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
                                      WHEN ABS((
                                        "amount" / NULLIF(CAST(4 AS DOUBLE), 0)
                                      )) < 4503599627370496.0
                                      THEN ROUND((
                                        "amount" / NULLIF(CAST(4 AS DOUBLE), 0)
                                      ) * 10) / 10
                                      ELSE (
                                        "amount" / NULLIF(CAST(4 AS DOUBLE), 0)
                                      )
                                    END AS DOUBLE) AS "half"
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
                                        CAST(CAST("qty" AS DOUBLE) / NULLIF(CAST(2 AS DOUBLE), 0) AS DOUBLE) AS "ratio"
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
