{{ config(materialized='view', contract={'enforced': true}) }}
{%- set late = var('late_label_horizon_days') -%}
{#- Evidence of abuse that arrives after a training example's label window closed, known as of the latest data:
    for each example (account, D) of fct_training_examples, whether a suspend or ban that still holds started in
    (D, D + L], and whether a warning was given in (D, D + L] (L = var late_label_horizon_days, twice the label
    horizon by default). Enforcement comes late: an account abusing on D is often blocked weeks later, after its
    example was written as a negative. A view, so it always reflects every action loaded so far without
    rebuilding the examples' partitions; safeguard.labels decides whether fitting uses it. Only examples with
    some evidence have a row. -#}

with examples as (
    select account_id, as_of_date
    from {{ ref('fct_training_examples') }}
),

blocked as (
    select examples.account_id, examples.as_of_date
    from examples
    inner join {{ ref('int_enforcement_states') }} as states
        on states.account_id = examples.account_id
       and {{ enforced_state_starts_within('states', 'examples.as_of_date', late) }}
       and states.state_until is null
    group by examples.account_id, examples.as_of_date
),

warned as (
    select examples.account_id, examples.as_of_date
    from examples
    inner join {{ ref('stg_enforcement_actions') }} as actions
        on actions.account_id = examples.account_id
       and actions.action = 'warn'
       and actions.action_ts >= {{ day_end('examples.as_of_date') }}
       and actions.action_ts < {{ day_end(add_days('examples.as_of_date', late)) }}
    group by examples.account_id, examples.as_of_date
)

select
    coalesce(blocked.account_id, warned.account_id) as account_id,
    coalesce(blocked.as_of_date, warned.as_of_date) as as_of_date,
    cast(case when blocked.account_id is null then 0 else 1 end as {{ dbt.type_int() }}) as late_blocked,
    cast(case when warned.account_id is null then 0 else 1 end as {{ dbt.type_int() }}) as late_warned
from blocked
full outer join warned
    on warned.account_id = blocked.account_id and warned.as_of_date = blocked.as_of_date
