-- One row per merchant from its daily totals, the highest decline rate first.
SELECT merchant_id,
       merchant_category,
       COUNT(*) AS active_days,
       SUM(tx_count) AS tx_count,
       SUM(declined_count) AS declined_count,
       CAST(SUM(declined_count) AS DOUBLE) / SUM(tx_count) AS decline_rate,
       SUM(amount_eur_sum) AS amount_eur,
       MAX(tx_count) AS busiest_day_tx_count,
       MAX(amount_eur_max) AS amount_eur_max
FROM merchant_daily
GROUP BY merchant_id, merchant_category
ORDER BY decline_rate DESC, merchant_id
