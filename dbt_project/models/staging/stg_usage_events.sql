{{ config(**by_day('event_ts', spark_view=true)) }}{{ config(on_schema_change='fail') }}
-- On Spark this is a view of the window's events (macros/engine.sql): a timestamp is no partition column.
-- Typed usage events, one row per event_id, stored one day of event_ts per statement (dbt microbatch). Ranking the
-- copies is the costly part of reading raw events, so it is done once here instead of in every model that reads
-- the events (at 1M accounts each reader of a ranking view spent 5 to 11 minutes of a 30-day build ranking all
-- 43.5M events again), and one day at a time: 30 days of 1M accounts in 162 s instead of about 390 s in one.
-- Ingestion replaces whole days, so a duplicate id can only come from the same event landed under two days; the
-- most recently ingested copy wins. Copies are ranked within (event_id, event_ts): both copies of one event carry
-- its timestamp, so both fall in the same window and the window's filter is applied before ranking.
-- Two copies with different timestamps would both stay and fail this model's unique test on event_id.
with ranked as (
    select
        event_id,
        account_id,
        org_id,
        api_key_id,
        cast(event_ts as {{ dbt.type_timestamp() }}) as event_ts,
        model,
        cast(input_tokens as {{ dbt.type_bigint() }}) as input_tokens,
        cast(output_tokens as {{ dbt.type_bigint() }}) as output_tokens,
        ip_hash,
        country,
        client,
        stop_reason,
        policy_category,
        cast(classifier_score as {{ type_double() }}) as classifier_score,
        prompt_template_hash,
        _partition_date as loaded_date,
        row_number() over (
            partition by event_id, event_ts order by _ingested_at desc, _partition_date desc, _source_file desc
        ) as copy_rank
    from {{ source('raw', 'usage_events') }}
    where {{ in_window('cast(event_ts as ' ~ dbt.type_timestamp() ~ ')') }}
)

select
    event_id,
    account_id,
    org_id,
    api_key_id,
    event_ts,
    model,
    input_tokens,
    output_tokens,
    ip_hash,
    country,
    client,
    stop_reason,
    policy_category,
    classifier_score,
    prompt_template_hash,
    loaded_date
from ranked
where copy_rank = 1
