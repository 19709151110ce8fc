{{ config(materialized='view') }}
{#- Each suspend, ban or reinstate starts a state of the account that lasts until its next such action:
    enforced after a suspend or ban, not enforced after a reinstate. Warns do not change the state.
    An account is "enforced as of D" when the state holding at the end of day D is enforced. At equal
    timestamps a reinstate is taken as the later action. -#}

with changes as (
    select
        account_id,
        action_id,
        action,
        action_ts,
        case when action = 'reinstate' then 1 else 0 end as order_at_same_time
    from {{ ref('stg_enforcement_actions') }}
    where action in ('suspend', 'ban', 'reinstate')
)

select
    account_id,
    action_id,
    action,
    action_ts as state_from,
    lead(action_ts) over (
        partition by account_id order by action_ts, order_at_same_time, action_id
    ) as state_until,
    case when action in ('suspend', 'ban') then 1 else 0 end as is_enforced
from changes
