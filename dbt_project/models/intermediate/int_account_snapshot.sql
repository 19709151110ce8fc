{{ config(**by_day('as_of_date', microbatch=false)) }}
{#- Every account as it was at the end of each day D of the window: the latest version with
    updated_at < D + 1 day, for accounts created before D + 1 day, and whether a suspend or ban (not yet
    reinstated) held at that moment. -#}

with as_of_dates as (
    {{ window_dates('as_of_date') }}
),

versions as (
    select
        as_of_dates.as_of_date,
        accounts.*
    from as_of_dates
    inner join {{ ref('stg_accounts') }} as accounts
        on accounts.updated_at < {{ day_end('as_of_dates.as_of_date') }}
       and (accounts.superseded_at is null
            or accounts.superseded_at >= {{ day_end('as_of_dates.as_of_date') }})
       and accounts.created_at < {{ day_end('as_of_dates.as_of_date') }}
),

enforced as (
    select distinct
        as_of_dates.as_of_date,
        states.account_id
    from as_of_dates
    inner join {{ ref('int_enforcement_states') }} as states
        on {{ enforced_state_holds_at('states', day_end('as_of_dates.as_of_date')) }}
)

select
    versions.as_of_date,
    versions.account_id,
    versions.org_id,
    versions.created_at,
    versions.plan,
    versions.signup_country,
    versions.email_domain_kind,
    versions.payment_fingerprint,
    versions.phone_verified,
    versions.signup_ip_hash,
    versions.device_hash,
    versions.updated_at as version_updated_at,
    cast(case when enforced.account_id is null then 0 else 1 end as {{ dbt.type_int() }}) as is_enforced
from versions
left join enforced
    on enforced.as_of_date = versions.as_of_date and enforced.account_id = versions.account_id
