-- Migration to adjusted prices: a gold_daily created before it has open/high/low/
-- close/adj_close/volume, whose meaning mixed provider-adjusted and as-traded prices.
-- They are dropped (not renamed: no old column holds a new column's values) and the
-- publish state is forgotten in the same transaction, so this run's publish sends every
-- gold row with the new columns. Idempotent: a migrated or new table has no adj_close.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'gold_daily'
          AND column_name = 'adj_close'
    ) THEN
        ALTER TABLE public.gold_daily
            DROP COLUMN IF EXISTS open,
            DROP COLUMN IF EXISTS high,
            DROP COLUMN IF EXISTS low,
            DROP COLUMN IF EXISTS close,
            DROP COLUMN IF EXISTS adj_close,
            DROP COLUMN IF EXISTS volume;
        DELETE FROM public.medallion_publish_state WHERE table_name = 'gold/daily';
    END IF;
END
$$;

ALTER TABLE public.gold_daily
    ADD COLUMN IF NOT EXISTS open_raw double precision,
    ADD COLUMN IF NOT EXISTS high_raw double precision,
    ADD COLUMN IF NOT EXISTS low_raw double precision,
    ADD COLUMN IF NOT EXISTS close_raw double precision,
    ADD COLUMN IF NOT EXISTS volume_raw bigint,
    ADD COLUMN IF NOT EXISTS split_factor double precision,
    ADD COLUMN IF NOT EXISTS open_adj double precision,
    ADD COLUMN IF NOT EXISTS high_adj double precision,
    ADD COLUMN IF NOT EXISTS low_adj double precision,
    ADD COLUMN IF NOT EXISTS close_adj double precision,
    ADD COLUMN IF NOT EXISTS volume_adj double precision,
    ADD COLUMN IF NOT EXISTS close_tr double precision,
    ADD COLUMN IF NOT EXISTS vwap double precision,
    ADD COLUMN IF NOT EXISTS return_simple double precision,
    ADD COLUMN IF NOT EXISTS return_log double precision,
    ADD COLUMN IF NOT EXISTS return_total double precision,
    ADD COLUMN IF NOT EXISTS sma_20 double precision,
    ADD COLUMN IF NOT EXISTS sma_50 double precision,
    ADD COLUMN IF NOT EXISTS sma_200 double precision,
    ADD COLUMN IF NOT EXISTS volatility_20d double precision,
    ADD COLUMN IF NOT EXISTS drawdown double precision,
    ADD COLUMN IF NOT EXISTS high_52w double precision,
    ADD COLUMN IF NOT EXISTS low_52w double precision,
    ADD COLUMN IF NOT EXISTS bar_count integer,
    ADD COLUMN IF NOT EXISTS updated_at timestamptz;
