{{ config(**by_day('as_of_date')) }}
{#- Evasion signals over D-6..D, per account and as_of_date D (accounts with requests in the week): requests
    scored just under the flag threshold, refusals among requests in a sensitive policy category, and requests
    whose prompt template the account used only once in the week (fresh, never reused prompts). From the daily
    grain, one as_of day per batch. -#}

with as_of_dates as (
    {{ window_dates('as_of_date') }}
),

week_usage as (
    {{ trailing_usage_sums(ref('int_account_daily_usage').render(),
                           ['events', 'near_threshold_events', 'sensitive_events', 'sensitive_refusal_events'], 7) }}
),

week_templates as (
    select as_of_dates.as_of_date, templates.account_id, templates.attribute_value, sum(templates.events) as events
    from as_of_dates
    inner join {{ ref('int_account_daily_attributes').render() }} as templates
        on {{ in_trailing_days('templates.activity_date', 'as_of_dates.as_of_date', 7) }}
       and templates.attribute = 'template'
    group by as_of_dates.as_of_date, templates.account_id, templates.attribute_value
),

single_use as (
    select as_of_date, account_id, sum(case when events = 1 then 1 else 0 end) as single_use_template_events
    from week_templates
    group by as_of_date, account_id
)

select
    week_usage.account_id,
    cast(week_usage.as_of_date as date) as as_of_date,
    {{ safe_ratio('week_usage.near_threshold_events', 'week_usage.events') }} as near_threshold_share_7d,
    {{ safe_ratio('week_usage.sensitive_refusal_events', 'week_usage.sensitive_events') }}
        as sensitive_refusal_rate_7d,
    {{ safe_ratio('coalesce(single_use.single_use_template_events, 0)', 'week_usage.events') }}
        as fresh_template_share_7d
from week_usage
left join single_use
    on single_use.as_of_date = week_usage.as_of_date and single_use.account_id = week_usage.account_id
