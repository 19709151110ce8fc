{{ config(**by_day('as_of_date')) }}
{#- Novelty against the account's own history, per account and as_of_date D (accounts with activity up to D):
    for IP, country, client and API key, the share of the requests of D (and of D-6..D) whose value the
    account first used within the last day (the last 7 days); the age in days of the newest value in use in
    D-6..D; and the days since the account's first request. Only first-seen days up to D are read, so nothing
    after D changes a row. One as_of day per batch, like fct_account_features. -#}
{%- set attributes = ['ip', 'country', 'client', 'api_key'] -%}

with as_of_dates as (
    {{ window_dates('as_of_date') }}
),

week_values as (
    {#- the values used in D-6..D with their requests on D and in D-6..D, aggregated at the daily grain -#}
    select
        as_of_dates.as_of_date,
        attributes.account_id,
        attributes.attribute,
        attributes.attribute_value,
        sum(case when attributes.activity_date = as_of_dates.as_of_date then attributes.events else 0 end)
            as events_1d,
        sum(attributes.events) as events_7d
    from as_of_dates
    inner join {{ ref('int_account_daily_attributes').render() }} as attributes
        on {{ in_trailing_days('attributes.activity_date', 'as_of_dates.as_of_date', 7) }}
       and attributes.attribute in ('{{ attributes | join("', '") }}')
    group by as_of_dates.as_of_date, attributes.account_id, attributes.attribute, attributes.attribute_value
),

first_seen as (
    select
        week_values.*,
        min(seen.first_seen_date) as first_seen_date
    from week_values
    inner join {{ ref('int_account_first_seen') }} as seen
        on seen.account_id = week_values.account_id
       and seen.attribute = week_values.attribute
       and seen.attribute_value = week_values.attribute_value
       and seen.first_seen_date <= week_values.as_of_date
    group by week_values.as_of_date, week_values.account_id, week_values.attribute,
             week_values.attribute_value, week_values.events_1d, week_values.events_7d
),

per_attribute as (
    select
        as_of_date,
        account_id,
        attribute,
        sum(events_1d) as events_1d,
        sum(events_7d) as events_7d,
        sum(case when first_seen_date = as_of_date then events_1d else 0 end) as new_events_1d,
        sum(case when first_seen_date > {{ add_days('as_of_date', -7) }} then events_7d else 0 end)
            as new_events_7d,
        min({{ dbt.datediff('first_seen_date', 'as_of_date', 'day') }}) as newest_value_age_days
    from first_seen
    group by as_of_date, account_id, attribute
),

history as (
    select as_of_dates.as_of_date, seen.account_id, min(seen.first_seen_date) as first_request_date
    from as_of_dates
    inner join {{ ref('int_account_first_seen') }} as seen
        on seen.first_seen_date <= as_of_dates.as_of_date
    group by as_of_dates.as_of_date, seen.account_id
)

select
    history.account_id,
    cast(history.as_of_date as date) as as_of_date,
    {%- for attribute in attributes %}
    {%- set a = 'per_attribute_' ~ attribute %}
    {{ safe_ratio(a ~ '.new_events_1d', a ~ '.events_1d') }} as new_{{ attribute }}_share_1d,
    {{ safe_ratio(a ~ '.new_events_7d', a ~ '.events_7d') }} as new_{{ attribute }}_share_7d,
    cast(coalesce({{ a }}.newest_value_age_days, 0) as {{ dbt.type_int() }}) as newest_{{ attribute }}_age_days,
    {%- endfor %}
    cast({{ dbt.datediff('history.first_request_date', 'history.as_of_date', 'day') }} as {{ dbt.type_int() }})
        as request_history_days
from history
{%- for attribute in attributes %}
left join per_attribute as per_attribute_{{ attribute }}
    on per_attribute_{{ attribute }}.as_of_date = history.as_of_date
   and per_attribute_{{ attribute }}.account_id = history.account_id
   and per_attribute_{{ attribute }}.attribute = '{{ attribute }}'
{%- endfor %}
