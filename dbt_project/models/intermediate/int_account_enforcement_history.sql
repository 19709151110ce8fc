{{ config(**by_day('as_of_date')) }}
{#- One as_of day per statement (dbt microbatch), like fct_account_features, which reads it for the same day. -#}
{#- Per account and day D: the account's enforcement history as known at the end of D (actions with
    action_ts < D + 1 day only): warnings, suspends or bans and reinstates so far, and the days since the
    latest action of any kind. For repeat offenders (warned, or banned and reinstated, before). -#}
{%- set count_type = dbt.type_bigint() -%}
{%- set indicator_type = dbt.type_int() -%}

with accounts as (
    select as_of_date, account_id
    from {{ ref('int_account_snapshot') }}
    where {{ in_window('as_of_date') }}
),

actions as (
    select account_id, action, action_ts
    from {{ ref('stg_enforcement_actions') }}
),

history as (
    select
        accounts.as_of_date,
        accounts.account_id,
        sum(case when actions.action = 'warn' then 1 else 0 end) as warnings,
        sum(case when actions.action in ('suspend', 'ban') then 1 else 0 end) as suspensions_bans,
        sum(case when actions.action = 'reinstate' then 1 else 0 end) as reinstatements,
        max(actions.action_ts) as last_action_ts
    from accounts
    inner join actions
        on actions.account_id = accounts.account_id
       and actions.action_ts < {{ day_end('accounts.as_of_date') }}
    group by accounts.as_of_date, accounts.account_id
)

select
    accounts.as_of_date,
    accounts.account_id,
    cast(coalesce(history.warnings, 0) as {{ count_type }}) as prior_warnings,
    cast(coalesce(history.suspensions_bans, 0) as {{ count_type }}) as prior_suspensions_bans,
    cast(coalesce(history.reinstatements, 0) as {{ count_type }}) as prior_reinstatements,
    cast(case when history.reinstatements > 0 then 1 else 0 end as {{ indicator_type }}) as ever_reinstated,
    cast(case when history.last_action_ts is null then 0 else 1 end as {{ indicator_type }}) as has_prior_enforcement,
    {#- no action yet: a sentinel far beyond any history (has_prior_enforcement = 0 says so explicitly) -#}
    cast(coalesce(
        {{ dbt.datediff('cast(history.last_action_ts as date)', 'accounts.as_of_date', 'day') }},
        {{ var('no_enforcement_days_sentinel') }}
    ) as {{ indicator_type }}) as days_since_last_enforcement
from accounts
left join history
    on history.as_of_date = accounts.as_of_date and history.account_id = accounts.account_id
