{{ config(**by_day('as_of_date', microbatch=false)) }}
{#- Which enforced account links an account, per day D, link kind and account: the most recently enforced of the
    accounts (suspended or banned as of D) that share a value with it as of D: its payment fingerprint, signup
    IP, device or org (the account version in effect at the end of D), or a prompt template it used in the
    28 days D-27..D. The feature models count these links (int_account_links, int_account_links_window); this
    model names one, so a reason can say which ban links the account, and a ban that lands on D shows on D.
    Per shared value only the two newest enforced accounts are kept (the newest other than the account itself
    is the one named), so a value shared by thousands of accounts costs no more than one shared by two; a value
    used by more than var link_max_accounts_per_value accounts (a NAT, a popular template, a big org) names
    nobody, as it links nothing in the ring aggregates. -#}
{%- set window = var('feature_windows') | max -%}
{%- set max_accounts = var('link_max_accounts_per_value') | int -%}
{%- set profile_links = {'payment': 'payment_fingerprint', 'signup_ip': 'signup_ip_hash', 'device': 'device_hash',
                         'org': 'org_id'} -%}

with as_of_dates as (
    {{ window_dates('as_of_date') }}
),

snapshot as (
    select as_of_date, account_id, {{ profile_links.values() | join(', ') }}
    from {{ ref('int_account_snapshot') }}
    where {{ in_window('as_of_date') }}
),

{#- every (day, link kind, value, account) -#}
linked_values as (
    {%- for link, column in profile_links.items() %}
    select as_of_date, '{{ link }}' as link, {{ column }} as link_value, account_id
    from snapshot
    where {{ column }} is not null
    union all
    {%- endfor %}
    select distinct as_of_dates.as_of_date, 'template' as link, templates.prompt_template_hash as link_value,
        templates.account_id
    from as_of_dates
    inner join {{ ref('int_account_daily_templates') }} as templates
        on {{ in_trailing_days('templates.activity_date', 'as_of_dates.as_of_date', window) }}
),

small_values as (
    select as_of_date, link, link_value
    from linked_values
    group by as_of_date, link, link_value
    having count(*) <= {{ max_accounts }}
),

{#- the accounts enforced at the end of D, with the start of the enforcement that holds then -#}
enforced as (
    select as_of_dates.as_of_date, states.account_id, max(states.state_from) as enforced_since
    from as_of_dates
    inner join {{ ref('int_enforcement_states') }} as states
        on {{ enforced_state_holds_at('states', day_end('as_of_dates.as_of_date')) }}
    group by as_of_dates.as_of_date, states.account_id
),

enforced_values as (
    select
        linked_values.as_of_date,
        linked_values.link,
        linked_values.link_value,
        linked_values.account_id as enforced_account_id,
        enforced.enforced_since,
        row_number() over (
            partition by linked_values.as_of_date, linked_values.link, linked_values.link_value
            order by enforced.enforced_since desc, linked_values.account_id
        ) as newest
    from linked_values
    inner join small_values
        on small_values.as_of_date = linked_values.as_of_date
       and small_values.link = linked_values.link
       and small_values.link_value = linked_values.link_value
    inner join enforced
        on enforced.as_of_date = linked_values.as_of_date and enforced.account_id = linked_values.account_id
),

{#- per account and value: its newest enforced account other than itself -#}
links as (
    select
        linked_values.as_of_date,
        linked_values.account_id,
        linked_values.link,
        enforced_values.enforced_account_id,
        enforced_values.enforced_since,
        row_number() over (
            partition by linked_values.as_of_date, linked_values.account_id, linked_values.link
            order by enforced_values.enforced_since desc, enforced_values.enforced_account_id
        ) as pick
    from linked_values
    inner join enforced_values
        on enforced_values.as_of_date = linked_values.as_of_date
       and enforced_values.link = linked_values.link
       and enforced_values.link_value = linked_values.link_value
       and enforced_values.newest <= 2
    where enforced_values.enforced_account_id <> linked_values.account_id
)

select
    as_of_date,
    account_id,
    link,
    enforced_account_id as linked_enforced_account_id,
    cast(enforced_since as date) as linked_enforced_since
from links
where pick = 1
