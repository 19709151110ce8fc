{{ config(**by_day('as_of_date')) }}
{#- Extraction (distillation, scraping) signals over D-6..D, per account and as_of_date D (accounts with
    requests in the week): output against input tokens, how evenly requests spread over the 24 UTC hours
    (normalised entropy: 1 = round the clock, 0 = a single hour), distinct prompt templates per request and the
    share of requests that stopped for tool use. From the daily grain, one as_of day per batch. -#}
{%- set hours = [] -%}{%- for hour in range(24) %}{% do hours.append('events_hour_%02d' % hour) %}{% endfor -%}

with as_of_dates as (
    {{ window_dates('as_of_date') }}
),

week_usage as (
    {{ trailing_usage_sums(ref('int_account_daily_usage').render(),
                           ['events', 'input_tokens', 'output_tokens', 'tool_use_events'] + hours, 7) }}
),

week_templates as (
    select as_of_dates.as_of_date, templates.account_id, count(distinct templates.attribute_value) as templates
    from as_of_dates
    inner join {{ ref('int_account_daily_attributes').render() }} as templates
        on {{ in_trailing_days('templates.activity_date', 'as_of_dates.as_of_date', 7) }}
       and templates.attribute = 'template'
    group by as_of_dates.as_of_date, templates.account_id
)

select
    week_usage.account_id,
    cast(week_usage.as_of_date as date) as as_of_date,
    {{ safe_ratio('week_usage.output_tokens', 'week_usage.input_tokens') }} as output_input_token_ratio_7d,
    {#- sum of p * ln(1 / p) over the hours with requests, divided by its maximum ln(24) -#}
    cast((
        {%- for column in hours %}
        {{ '+ ' if not loop.first }}case when week_usage.{{ column }} > 0
             then {{ safe_ratio('week_usage.' ~ column, 'week_usage.events') }}
                  * ln({{ safe_ratio('week_usage.events', 'week_usage.' ~ column) }})
             else 0 end
        {%- endfor %}
        ) / ln(24) as {{ type_double() }}) as hour_profile_entropy_7d,
    {{ safe_ratio('coalesce(week_templates.templates, 0)', 'week_usage.events') }} as template_diversity_7d,
    {{ safe_ratio('week_usage.tool_use_events', 'week_usage.events') }} as tool_use_share_7d
from week_usage
left join week_templates
    on week_templates.as_of_date = week_usage.as_of_date and week_templates.account_id = week_usage.account_id
