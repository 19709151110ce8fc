{{ config(**by_day('as_of_date')) }}
{#- One row per account and as_of_date D for every account that exists as of D, from data before D + 1 day
    only. Windows of 1, 7 and 28 days end with D (D-6..D is the 7-day window). No activity gives zeros.
    Built one as_of day per statement (dbt's microbatch: --event-time-start/--event-time-end give the days), so
    memory is one day's accounts whatever the length of a backfill; a single statement for a 30-day window of
    1M accounts ran out of memory at 3 GB. -#}
{%- set windows = var('feature_windows') -%}
{#- columns of int_account_daily_usage that add up over the days of a window -#}
{%- set additive = ['events', 'input_tokens', 'output_tokens', 'flagged_any_events'] -%}
{%- for category in var('flag_categories') %}{% do additive.append('flagged_' ~ category ~ '_events') %}{% endfor -%}
{%- do additive.extend(['refusal_events', 'max_tokens_events', 'night_events', 'repeated_template_events']) -%}
{%- set count_type = dbt.type_bigint() -%}
{#- the usage-derived feature families, each in a model of its own (one row per active account and as_of day;
    an account without a row there gets 0): column -> type -#}
{%- set usage_families = {
    'int_account_novelty': ['new_ip_share_1d', 'new_ip_share_7d', 'newest_ip_age_days',
                            'new_country_share_1d', 'new_country_share_7d', 'newest_country_age_days',
                            'new_client_share_1d', 'new_client_share_7d', 'newest_client_age_days',
                            'new_api_key_share_1d', 'new_api_key_share_7d', 'newest_api_key_age_days',
                            'request_history_days'],
    'int_account_behaviour_change': ['baseline_active_days', 'change_volume_log_ratio',
                                     'change_category_mix_distance', 'change_refusal_delta',
                                     'change_input_tokens_log_ratio', 'change_output_tokens_log_ratio',
                                     'change_hour_profile_distance'],
    'int_account_evasion': ['near_threshold_share_7d', 'sensitive_refusal_rate_7d', 'fresh_template_share_7d'],
    'int_account_extraction': ['output_input_token_ratio_7d', 'hour_profile_entropy_7d', 'template_diversity_7d',
                               'tool_use_share_7d'],
} -%}
{%- set indicator_type = dbt.type_int() -%}
{%- set links_window_columns = [
    'linked_template_accounts_max_28d', 'linked_template_accounts_sum_28d', 'shared_templates_28d',
    'linked_template_enforced_share_28d', 'linked_ip_accounts_max_28d', 'linked_ip_accounts_sum_28d',
    'shared_ips_28d', 'linked_ip_enforced_share_28d', 'linked_org_accounts', 'linked_org_enforced_share',
    'linked_accounts_max', 'linked_accounts_sum', 'linked_enforced_share',
    'created_together_signup_ip_accounts', 'created_together_payment_accounts', 'created_together_org_accounts',
] -%}
{%- set history_columns = [
    'prior_warnings', 'prior_suspensions_bans', 'prior_reinstatements', 'ever_reinstated',
    'has_prior_enforcement', 'days_since_last_enforcement',
] -%}

with as_of_dates as (
    {{ window_dates('as_of_date') }}
),

accounts as (
    select *
    from {{ ref('int_account_snapshot') }}
    where {{ in_window('as_of_date') }}
),

{#- The daily models are microbatch too, so a plain ref would be cut to this batch's day: .render() reads them
    whole, and the joins below take the 28 days behind each as_of day. -#}
daily_usage as (
    select as_of_dates.as_of_date, usage.*
    from as_of_dates
    inner join {{ ref('int_account_daily_usage').render() }} as usage
        on {{ in_trailing_days('usage.activity_date', 'as_of_dates.as_of_date', (windows | max)) }}
),

usage_windows as (
    select
        as_of_date,
        account_id
        {%- for w in windows %}
        {%- set within = 'activity_date > ' ~ add_days('as_of_date', -(w)) %}
        {%- for column in additive %},
        sum(case when {{ within }} then {{ column }} else 0 end) as {{ column }}_{{ w }}d
        {%- endfor %},
        max(case when {{ within }} then max_events_in_hour else 0 end) as max_events_in_hour_{{ w }}d
        {%- endfor %}
    from daily_usage
    group by as_of_date, account_id
),

attribute_values as (
    select
        as_of_dates.as_of_date,
        attributes.account_id,
        attributes.attribute,
        attributes.attribute_value
        {%- for w in windows %},
        sum(case when attributes.activity_date > {{ add_days('as_of_dates.as_of_date', -(w)) }}
                 then attributes.events else 0 end) as events_{{ w }}d
        {%- endfor %}
    from as_of_dates
    inner join {{ ref('int_account_daily_attributes').render() }} as attributes
        on {{ in_trailing_days('attributes.activity_date', 'as_of_dates.as_of_date', (windows | max)) }}
       and attributes.attribute in ('ip', 'country')
    group by as_of_dates.as_of_date, attributes.account_id, attributes.attribute, attributes.attribute_value
),

attribute_windows as (
    select
        as_of_date,
        account_id
        {%- for w in windows %},
        sum(case when attribute = 'ip' and events_{{ w }}d > 0 then 1 else 0 end) as distinct_ips_{{ w }}d,
        sum(case when attribute = 'country' and events_{{ w }}d > 0 then 1 else 0 end) as distinct_countries_{{ w }}d
        {%- endfor %}
    from attribute_values
    group by as_of_date, account_id
)

select
    accounts.account_id,
    accounts.as_of_date,
    {%- for w in windows %}
    {%- set events = 'usage_windows.events_' ~ w ~ 'd' %}
    cast(coalesce({{ events }}, 0) as {{ count_type }}) as events_{{ w }}d,
    cast(coalesce(usage_windows.input_tokens_{{ w }}d, 0) as {{ count_type }}) as input_tokens_{{ w }}d,
    cast(coalesce(usage_windows.output_tokens_{{ w }}d, 0) as {{ count_type }}) as output_tokens_{{ w }}d,
    {{ safe_ratio('usage_windows.flagged_any_events_' ~ w ~ 'd', events) }} as flag_rate_any_{{ w }}d,
    {%- for category in var('flag_categories') %}
    {{ safe_ratio('usage_windows.flagged_' ~ category ~ '_events_' ~ w ~ 'd', events) }}
        as flag_rate_{{ category }}_{{ w }}d,
    {%- endfor %}
    {{ safe_ratio('usage_windows.refusal_events_' ~ w ~ 'd', events) }} as refusal_rate_{{ w }}d,
    {{ safe_ratio('usage_windows.max_tokens_events_' ~ w ~ 'd', events) }} as max_tokens_rate_{{ w }}d,
    cast(coalesce(attribute_windows.distinct_ips_{{ w }}d, 0) as {{ count_type }}) as distinct_ips_{{ w }}d,
    cast(coalesce(attribute_windows.distinct_countries_{{ w }}d, 0) as {{ count_type }})
        as distinct_countries_{{ w }}d,
    {{ safe_ratio('usage_windows.night_events_' ~ w ~ 'd', events) }} as night_share_{{ w }}d,
    cast(coalesce(usage_windows.max_events_in_hour_{{ w }}d, 0) as {{ count_type }})
        as max_events_in_hour_{{ w }}d,
    {{ safe_ratio('usage_windows.repeated_template_events_' ~ w ~ 'd', events) }} as template_reuse_share_{{ w }}d,
    {%- endfor %}
    {#- velocity: the last day against the 7-day daily mean, the last 7 days against the 28-day weekly mean -#}
    {{ safe_ratio('7 * coalesce(usage_windows.events_1d, 0)', 'usage_windows.events_7d') }} as velocity_1d_vs_7d,
    {{ safe_ratio('4 * coalesce(usage_windows.events_7d, 0)', 'usage_windows.events_28d') }} as velocity_7d_vs_28d,
    cast({{ dbt.datediff('cast(accounts.created_at as date)', 'accounts.as_of_date', 'day') }} as {{ indicator_type }})
        as account_age_days,
    {%- for plan in var('plans') %}
    cast(case when accounts.plan = '{{ plan }}' then 1 else 0 end as {{ indicator_type }}) as plan_{{ plan }},
    {%- endfor %}
    cast(case when accounts.phone_verified then 1 else 0 end as {{ indicator_type }}) as phone_verified,
    {%- for kind in var('email_domain_kinds') %}
    cast(case when accounts.email_domain_kind = '{{ kind }}' then 1 else 0 end as {{ indicator_type }})
        as email_{{ kind }},
    {%- endfor %}
    {%- for link in ['payment', 'signup_ip', 'device'] %}
    links.linked_{{ link }}_accounts,
    {{ safe_ratio('links.linked_' ~ link ~ '_enforced_accounts', 'links.linked_' ~ link ~ '_accounts') }}
        as linked_{{ link }}_enforced_share,
    {%- endfor %}
    {#- rings and shared infrastructure (int_account_links_window), repeat offenders (int_account_enforcement_history) -#}
    {%- for column in links_window_columns %}
    links_window.{{ column }},
    {%- endfor %}
    {%- for column in history_columns %}
    history.{{ column }},
    {%- endfor %}
    {%- for family, columns in usage_families.items() %}
    {%- set family_loop = loop %}
    {%- for column in columns %}
    {%- set type = indicator_type if column.endswith('_days') else type_double() %}
    cast(coalesce({{ family }}.{{ column }}, 0) as {{ type }}) as {{ column }}
        {{- ',' if not (family_loop.last and loop.last) }}
    {%- endfor %}
    {%- endfor %}
from accounts
left join usage_windows
    on usage_windows.as_of_date = accounts.as_of_date and usage_windows.account_id = accounts.account_id
left join attribute_windows
    on attribute_windows.as_of_date = accounts.as_of_date and attribute_windows.account_id = accounts.account_id
inner join {{ ref('int_account_links') }} as links
    on links.as_of_date = accounts.as_of_date and links.account_id = accounts.account_id
inner join {{ ref('int_account_links_window') }} as links_window
    on links_window.as_of_date = accounts.as_of_date and links_window.account_id = accounts.account_id
inner join {{ ref('int_account_enforcement_history') }} as history
    on history.as_of_date = accounts.as_of_date and history.account_id = accounts.account_id
{%- for family in usage_families %}
left join {{ ref(family) }} as {{ family }}
    on {{ family }}.as_of_date = accounts.as_of_date and {{ family }}.account_id = accounts.account_id
{%- endfor %}
