{{ config(**by_day('as_of_date')) }}
{#- One as_of day per statement (dbt microbatch), like fct_account_features, which reads it for the same day. -#}
{#- Rings and shared infrastructure, per account and day D, from data before D + 1 day only:
    - usage links: the prompt templates and exact client IPs (ip_hash) the account used in the 28 days D-27..D,
      and how many other accounts used each of them in the same 28 days;
    - profile links as of D: the org, payment fingerprint, signup IP and device of the account's version in
      effect at the end of D, and how many other accounts (as of D) have the same;
    - created-together bursts: other accounts created within one calendar day of this one (day before, same day,
      day after, as far as they exist as of D) with the same signup IP, payment fingerprint or org;
    - the share of the linked accounts that are suspended or banned as of D (int_account_snapshot.is_enforced).
    Everything is counted per shared value (the size of its group), never by pairing accounts, so a value used by
    thousands of accounts costs no more than one used by two. A value used by more than
    var link_max_accounts_per_value accounts is public infrastructure (a popular template, a NAT or VPN exit, a
    big org) and is left out of the template, IP and all-links aggregates; the per-org columns keep it, as
    int_account_links does for payment, signup IP and device. -#}
{%- set window = var('feature_windows') | max -%}
{%- set max_accounts = var('link_max_accounts_per_value') | int -%}
{%- set profile_links = {'org': 'org_id', 'payment': 'payment_fingerprint', 'signup_ip': 'signup_ip_hash',
                         'device': 'device_hash'} -%}
{%- set created_links = {'signup_ip': 'signup_ip_hash', 'payment': 'payment_fingerprint', 'org': 'org_id'} -%}
{%- set usage_links = ['template', 'ip'] -%}
{%- set count_type = dbt.type_bigint() -%}

with as_of_dates as (
    {{ window_dates('as_of_date') }}
),

snapshot as (
    select as_of_date, account_id, cast(created_at as date) as created_date, is_enforced,
        {{ profile_links.values() | join(', ') }}
    from {{ ref('int_account_snapshot') }}
    where {{ in_window('as_of_date') }}
),

{#- The daily models are microbatch, so a plain ref would be cut to this batch's day: .render() reads them
    whole, and the joins take the 28 days behind each as_of day. -#}
used_values as (
    select distinct as_of_dates.as_of_date, 'template' as link, templates.account_id,
        templates.prompt_template_hash as link_value
    from as_of_dates
    inner join {{ ref('int_account_daily_templates').render() }} as templates
        on {{ in_trailing_days('templates.activity_date', 'as_of_dates.as_of_date', window) }}
    union all
    select distinct as_of_dates.as_of_date, 'ip' as link, attributes.account_id,
        attributes.attribute_value as link_value
    from as_of_dates
    inner join {{ ref('int_account_daily_attributes').render() }} as attributes
        on attributes.attribute = 'ip'
       and {{ in_trailing_days('attributes.activity_date', 'as_of_dates.as_of_date', window) }}
),

{#- every (day, link kind, account, value), with whether the account is enforced as of the day -#}
linked_values as (
    select used_values.as_of_date, used_values.link, used_values.account_id, used_values.link_value,
        coalesce(snapshot.is_enforced, 0) as is_enforced
    from used_values
    left join snapshot
        on snapshot.as_of_date = used_values.as_of_date and snapshot.account_id = used_values.account_id
    {%- for link, column in profile_links.items() %}
    union all
    select as_of_date, '{{ link }}' as link, account_id, {{ column }} as link_value, is_enforced
    from snapshot
    where {{ column }} is not null
    {%- endfor %}
),

value_groups as (
    select as_of_date, link, link_value, count(*) as accounts, sum(is_enforced) as enforced_accounts
    from linked_values
    group by as_of_date, link, link_value
),

{#- per account and shared value: the other accounts of the value's group, and how many are enforced -#}
shared_values as (
    select
        linked_values.as_of_date,
        linked_values.account_id,
        linked_values.link,
        value_groups.accounts - 1 as other_accounts,
        value_groups.enforced_accounts - linked_values.is_enforced as other_enforced_accounts,
        case when value_groups.accounts > {{ max_accounts }} then 1 else 0 end as is_public
    from linked_values
    inner join value_groups
        on value_groups.as_of_date = linked_values.as_of_date
       and value_groups.link = linked_values.link
       and value_groups.link_value = linked_values.link_value
    where value_groups.accounts > 1
),

link_aggregates as (
    select
        as_of_date,
        account_id
        {%- for link in usage_links %},
        max(case when link = '{{ link }}' and is_public = 0 then other_accounts else 0 end)
            as {{ link }}_accounts_max,
        sum(case when link = '{{ link }}' and is_public = 0 then other_accounts else 0 end)
            as {{ link }}_accounts_sum,
        sum(case when link = '{{ link }}' and is_public = 0 then 1 else 0 end) as {{ link }}_shared_values,
        sum(case when link = '{{ link }}' and is_public = 0 then other_enforced_accounts else 0 end)
            as {{ link }}_enforced_sum
        {%- endfor %},
        sum(case when link = 'org' then other_accounts else 0 end) as org_accounts,
        sum(case when link = 'org' then other_enforced_accounts else 0 end) as org_enforced_accounts,
        max(case when is_public = 0 then other_accounts else 0 end) as all_accounts_max,
        sum(case when is_public = 0 then other_accounts else 0 end) as all_accounts_sum,
        sum(case when is_public = 0 then other_enforced_accounts else 0 end) as all_enforced_sum
    from shared_values
    group by as_of_date, account_id
),

{#- accounts per (value, creation day), for created-together counts without pairing accounts -#}
creation_groups as (
    {%- for link, column in created_links.items() %}
    select as_of_date, '{{ link }}' as link, {{ column }} as link_value, created_date, count(*) as accounts
    from snapshot
    where {{ column }} is not null
    group by as_of_date, {{ column }}, created_date
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

{#- one equi-join per link kind (not one join with an OR of the kinds, which no engine can hash: at 100k
    accounts it paired every account with every creation group of its day, 50 s a day on DuckDB) -#}
created_together_links as (
    {%- for link, column in created_links.items() %}
    select snapshot.as_of_date, snapshot.account_id, '{{ link }}' as link,
        sum(creation_groups.accounts) - 1 as other_accounts
    from snapshot
    inner join creation_groups
        on creation_groups.as_of_date = snapshot.as_of_date
       and creation_groups.link = '{{ link }}'
       and creation_groups.link_value = snapshot.{{ column }}
       and creation_groups.created_date >= {{ add_days('snapshot.created_date', -1) }}
       and creation_groups.created_date <= {{ add_days('snapshot.created_date', 1) }}
    group by snapshot.as_of_date, snapshot.account_id
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

created_together as (
    select
        as_of_date,
        account_id
        {%- for link in created_links %},
        sum(case when link = '{{ link }}' then other_accounts else 0 end) as {{ link }}_accounts
        {%- endfor %}
    from created_together_links
    group by as_of_date, account_id
)

select
    snapshot.as_of_date,
    snapshot.account_id,
    {%- for link in usage_links %}
    {%- set plural = 'templates' if link == 'template' else 'ips' %}
    cast(coalesce(links.{{ link }}_accounts_max, 0) as {{ count_type }}) as linked_{{ link }}_accounts_max_{{ window }}d,
    cast(least(coalesce(links.{{ link }}_accounts_sum, 0), {{ max_accounts }}) as {{ count_type }})
        as linked_{{ link }}_accounts_sum_{{ window }}d,
    cast(coalesce(links.{{ link }}_shared_values, 0) as {{ count_type }}) as shared_{{ plural }}_{{ window }}d,
    {{ safe_ratio('links.' ~ link ~ '_enforced_sum', 'links.' ~ link ~ '_accounts_sum') }}
        as linked_{{ link }}_enforced_share_{{ window }}d,
    {%- endfor %}
    cast(coalesce(links.org_accounts, 0) as {{ count_type }}) as linked_org_accounts,
    {{ safe_ratio('links.org_enforced_accounts', 'links.org_accounts') }} as linked_org_enforced_share,
    cast(coalesce(links.all_accounts_max, 0) as {{ count_type }}) as linked_accounts_max,
    cast(least(coalesce(links.all_accounts_sum, 0), {{ max_accounts }}) as {{ count_type }}) as linked_accounts_sum,
    {{ safe_ratio('links.all_enforced_sum', 'links.all_accounts_sum') }} as linked_enforced_share,
    {%- for link in created_links %}
    cast(coalesce(created_together.{{ link }}_accounts, 0) as {{ count_type }})
        as created_together_{{ link }}_accounts{{ ',' if not loop.last }}
    {%- endfor %}
from snapshot
left join link_aggregates as links
    on links.as_of_date = snapshot.as_of_date and links.account_id = snapshot.account_id
left join created_together
    on created_together.as_of_date = snapshot.as_of_date and created_together.account_id = snapshot.account_id
