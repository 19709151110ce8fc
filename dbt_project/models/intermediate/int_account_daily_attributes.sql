{{ config(**by_day('activity_date')) }}
{#- One day per statement (dbt microbatch), like int_account_daily_usage. -#}
{#- Per account, UTC day and attribute value (IP, country, client, API key, prompt template): the events that
    used it. Distinct counts over 7 or 28 days are exact from this grain (one row per value and day), not from
    daily distinct counts, which cannot be added up; it is also where first-seen days come from
    (int_account_first_seen). -#}
{%- set attributes = {'ip': 'ip_hash', 'country': 'country', 'client': 'client', 'api_key': 'api_key_id',
                      'template': 'prompt_template_hash'} -%}

with events as (
    select *, cast(event_ts as date) as activity_date
    from {{ ref('stg_usage_events') }}
    where {{ in_window('event_ts') }}
)

{% for attribute, column in attributes.items() %}
select
    account_id,
    activity_date,
    '{{ attribute }}' as attribute,
    {{ column }} as attribute_value,
    cast(count(*) as {{ dbt.type_bigint() }}) as events
from events
where {{ column }} is not null
group by account_id, activity_date, {{ column }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
