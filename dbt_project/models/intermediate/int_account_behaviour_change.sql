{{ config(**by_day('as_of_date')) }}
{#- Change of this week against the account's own trailing baseline, per account and as_of_date D (accounts
    with requests in D-27..D): the recent week D-6..D against the baseline D-27..D-7. Every score is 0 unless
    both periods have requests (no baseline is no change, never null); baseline_active_days says how much
    baseline there is. Aggregated from the daily grain (at most 28 rows per account), one as_of day per batch. -#}
{%- set categories = var('flag_categories') -%}
{%- set hours = [] -%}{%- for hour in range(24) %}{% do hours.append('events_hour_%02d' % hour) %}{% endfor -%}
{%- set summed = ['events', 'input_tokens', 'output_tokens', 'refusal_events', 'flagged_any_events'] -%}
{%- for category in categories %}{% do summed.append('flagged_' ~ category ~ '_events') %}{% endfor -%}
{%- do summed.extend(hours) -%}

with as_of_dates as (
    {{ window_dates('as_of_date') }}
),

periods as (
    select
        as_of_dates.as_of_date,
        usage.account_id
        {%- for period, condition in [('recent', '>'), ('baseline', '<=')] %}
        {%- set within = 'usage.activity_date ' ~ condition ~ ' ' ~ add_days('as_of_dates.as_of_date', -7) %},
        sum(case when {{ within }} and usage.events > 0 then 1 else 0 end) as {{ period }}_active_days
        {%- for column in summed %},
        sum(case when {{ within }} then usage.{{ column }} else 0 end) as {{ period }}_{{ column }}
        {%- endfor %}
        {%- endfor %}
    from as_of_dates
    inner join {{ ref('int_account_daily_usage').render() }} as usage
        on {{ in_trailing_days('usage.activity_date', 'as_of_dates.as_of_date', 28) }}
    group by as_of_dates.as_of_date, usage.account_id
),

compared as (
    select
        *,
        case when recent_events > 0 and baseline_events > 0 then 1 else 0 end as comparable
    from periods
)

select
    account_id,
    cast(as_of_date as date) as as_of_date,
    cast(baseline_active_days as {{ dbt.type_int() }}) as baseline_active_days,
    cast(case when comparable = 1 then
        ln({{ safe_ratio('recent_events', 'recent_active_days') }}
           / {{ safe_ratio('baseline_events', 'baseline_active_days') }})
        else 0 end as {{ type_double() }}) as change_volume_log_ratio,
    {#- total variation distance between the shares of requests flagged per category (and not flagged) -#}
    cast(case when comparable = 1 then 0.5 * (
        abs({{ safe_ratio('recent_' ~ 'events - recent_flagged_any_events', 'recent_events') }}
            - {{ safe_ratio('baseline_' ~ 'events - baseline_flagged_any_events', 'baseline_events') }})
        {%- for category in categories %}
        + abs({{ safe_ratio('recent_' ~ 'flagged_' ~ category ~ '_events', 'recent_events') }}
              - {{ safe_ratio('baseline_' ~ 'flagged_' ~ category ~ '_events', 'baseline_events') }})
        {%- endfor %}
        ) else 0 end as {{ type_double() }}) as change_category_mix_distance,
    cast(case when comparable = 1 then
        {{ safe_ratio('recent_' ~ 'refusal_events', 'recent_events') }} - {{ safe_ratio('baseline_' ~ 'refusal_events', 'baseline_events') }}
        else 0 end as {{ type_double() }}) as change_refusal_delta,
    {%- for tokens in ['input_tokens', 'output_tokens'] %}
    {#- log ratio of mean tokens per request; +1 keeps requests with no tokens finite -#}
    cast(case when comparable = 1 then
        ln(({{ safe_ratio('recent_' ~ tokens, 'recent_events') }} + 1)
           / ({{ safe_ratio('baseline_' ~ tokens, 'baseline_events') }} + 1))
        else 0 end as {{ type_double() }}) as change_{{ tokens }}_log_ratio,
    {%- endfor %}
    {#- total variation distance between the hour-of-day (UTC) profiles -#}
    cast(case when comparable = 1 then 0.5 * (
        {%- for column in hours %}
        {{ '+ ' if not loop.first }}abs({{ safe_ratio('recent_' ~ column, 'recent_events') }} - {{ safe_ratio('baseline_' ~ column, 'baseline_events') }})
        {%- endfor %}
        ) else 0 end as {{ type_double() }}) as change_hour_profile_distance
from compared
