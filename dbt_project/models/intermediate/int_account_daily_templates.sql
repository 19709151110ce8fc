{{ config(**by_day('activity_date')) }}
{#- One day per statement (dbt microbatch), like int_account_daily_attributes. -#}
{#- Per account, UTC day and prompt template: the requests that used it. The (template, day) grain of which
    accounts used a template, from which int_account_links_window counts the accounts sharing a template over a
    window. -#}

with events as (
    select account_id, prompt_template_hash, cast(event_ts as date) as activity_date
    from {{ ref('stg_usage_events') }}
    where {{ in_window('event_ts') }}
      and prompt_template_hash is not null
)

select
    account_id,
    activity_date,
    prompt_template_hash,
    cast(count(*) as {{ dbt.type_bigint() }}) as events
from events
group by account_id, activity_date, prompt_template_hash
