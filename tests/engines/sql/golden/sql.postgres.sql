-- output: out
SELECT
  o.id,
  c.city,
  o.amount * 2 AS double_amount
FROM "orders" AS o
JOIN "customers" AS c
  ON o.customer = c.name
WHERE
  o.amount > 1;
