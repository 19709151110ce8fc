{{ config(**by_day('first_seen_date', microbatch=false)) }}
{#- Per account, attribute (ip, country, client, api_key) and value: the UTC day the account first used it.
    Built for the partition window's days: a value used in the window is first seen on its first day in the
    window if the account never used it before min_date. Each row depends only on data up to its day, so
    re-building a window gives the same rows, and day by day gives what the whole range at once does.
    Prompt templates are left out: free-form prompts make nearly every template new, and the history scan
    would be as large as the events; fresh templates are counted in int_account_evasion instead. -#}
{%- set attributes = ['ip', 'country', 'client', 'api_key'] -%}

with window_values as (
    select account_id, attribute, attribute_value, min(activity_date) as first_seen_date
    from {{ ref('int_account_daily_attributes') }}
    where {{ in_window('activity_date') }}
      and attribute in ('{{ attributes | join("', '") }}')
    group by account_id, attribute, attribute_value
),

earlier_values as (
    select distinct earlier.account_id, earlier.attribute, earlier.attribute_value
    from {{ ref('int_account_daily_attributes') }} as earlier
    inner join window_values
        on window_values.account_id = earlier.account_id
       and window_values.attribute = earlier.attribute
       and window_values.attribute_value = earlier.attribute_value
    where earlier.activity_date < {{ window_bound('min_date') }}
)

select
    window_values.account_id,
    window_values.attribute,
    window_values.attribute_value,
    cast(window_values.first_seen_date as date) as first_seen_date
from window_values
left join earlier_values
    on earlier_values.account_id = window_values.account_id
   and earlier_values.attribute = window_values.attribute
   and earlier_values.attribute_value = window_values.attribute_value
where earlier_values.account_id is null
