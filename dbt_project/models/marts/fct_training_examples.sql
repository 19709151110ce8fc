{%- set horizon = label_horizon_days() -%}
{{ config(window_column='as_of_date', window_offset_days=-horizon) }}
{#- Features as of D with label 1 iff a suspend or ban starts in (D, D + H] and no reinstate ends it within
    (D, D + H]. A partition window [min_date, max_date) closes the label windows of
    D in [min_date - H, max_date - H): their last day D + H is inside the partition window. So each D belongs to
    exactly one partition (D + H) and re-building that partition rebuilds D's examples from current data.
    Accounts under an active suspend or ban as of D are left out: their label says nothing new.
    label_warned and label_reinstated say what else happened in (D, D + H]: a warning, or a suspend or ban that
    started there and was reinstated within it. They are not features; safeguard.labels decides what fitting
    learns from these ambiguous examples. -#}

with example_dates as (
    {{ window_dates('as_of_date', offset_days=-horizon) }}
),

features as (
    select features.*
    from {{ ref('fct_account_features') }} as features
    inner join example_dates
        on example_dates.as_of_date = features.as_of_date
),

eligible as (
    select as_of_date, account_id
    from {{ ref('int_account_snapshot') }}
    where {{ in_window('as_of_date', offset_days=-horizon) }}
      and is_enforced = 0
),

positives as (
    {#- an enforced state that starts after D and still holds at the end of D + H -#}
    select distinct
        example_dates.as_of_date,
        states.account_id
    from example_dates
    inner join {{ ref('int_enforcement_states') }} as states
        on {{ enforced_state_starts_within('states', 'example_dates.as_of_date', horizon) }}
       and {{ enforced_state_holds_at('states', day_end(add_days('example_dates.as_of_date', horizon))) }}
),

warned as (
    select distinct
        example_dates.as_of_date,
        actions.account_id
    from example_dates
    inner join {{ ref('stg_enforcement_actions') }} as actions
        on actions.action = 'warn'
       and actions.action_ts >= {{ day_end('example_dates.as_of_date') }}
       and actions.action_ts < {{ day_end(add_days('example_dates.as_of_date', horizon)) }}
),

reinstated as (
    {#- an enforced state that starts after D and ends (a reinstate) by the end of D + H -#}
    select distinct
        example_dates.as_of_date,
        states.account_id
    from example_dates
    inner join {{ ref('int_enforcement_states') }} as states
        on {{ enforced_state_starts_within('states', 'example_dates.as_of_date', horizon) }}
       and states.state_until < {{ day_end(add_days('example_dates.as_of_date', horizon)) }}
)

select
    features.*,
    cast(case when positives.account_id is null then 0 else 1 end as {{ dbt.type_int() }}) as label,
    cast(case when warned.account_id is null then 0 else 1 end as {{ dbt.type_int() }}) as label_warned,
    cast(case when reinstated.account_id is null then 0 else 1 end as {{ dbt.type_int() }}) as label_reinstated
from features
inner join eligible
    on eligible.as_of_date = features.as_of_date and eligible.account_id = features.account_id
left join positives
    on positives.as_of_date = features.as_of_date and positives.account_id = features.account_id
left join warned
    on warned.as_of_date = features.as_of_date and warned.account_id = features.account_id
left join reinstated
    on reinstated.as_of_date = features.as_of_date and reinstated.account_id = features.account_id
