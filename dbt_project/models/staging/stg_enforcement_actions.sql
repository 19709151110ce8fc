-- Typed enforcement actions, one row per action_id (the most recently ingested copy wins).
with ranked as (
    select
        action_id,
        account_id,
        cast(action_ts as {{ dbt.type_timestamp() }}) as action_ts,
        action,
        category,
        source,
        row_number() over (
            partition by action_id order by _ingested_at desc, _partition_date desc, _source_file desc
        ) as copy_rank
    from {{ source('raw', 'enforcement_actions') }}
)

select
    action_id,
    account_id,
    action_ts,
    action,
    category,
    source
from ranked
where copy_rank = 1
