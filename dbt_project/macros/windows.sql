{#- Join conditions shared by the windowed models, written once. -#}

{% macro in_trailing_days(day_column, as_of_date, days) -%}
{#- day_column is one of the ``days`` days ending with as_of_date: as_of_date - days < day <= as_of_date -#}
{{ day_column }} <= {{ as_of_date }}
       and {{ day_column }} > {{ add_days(as_of_date, -days) }}
{%- endmacro %}

{% macro trailing_usage_sums(daily_usage, columns, days) -%}
{#- Per (as_of_date, account): the sums of ``columns`` of the daily usage grain over the ``days`` days ending
    with as_of_date; reads the CTE ``as_of_dates``. ``daily_usage`` is the relation (rendered, so a microbatch
    model's event-time filter does not cut the window). -#}
    select
        as_of_dates.as_of_date,
        usage.account_id,
        {%- for column in columns %}
        sum(usage.{{ column }}) as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from as_of_dates
    inner join {{ daily_usage }} as usage
        on {{ in_trailing_days('usage.activity_date', 'as_of_dates.as_of_date', days) }}
    group by as_of_dates.as_of_date, usage.account_id
{%- endmacro %}

{% macro enforced_state_holds_at(states, ts) -%}
{#- an enforced state (suspend or ban) of ``states`` (int_enforcement_states) that has begun before ``ts`` and
    is not over at ``ts`` -#}
{{ states }}.is_enforced = 1
       and {{ states }}.state_from < {{ ts }}
       and ({{ states }}.state_until is null or {{ states }}.state_until >= {{ ts }})
{%- endmacro %}

{% macro enforced_state_starts_within(states, as_of_date, days) -%}
{#- an enforced state that begins after the day as_of_date, by the end of as_of_date + days -#}
{{ states }}.is_enforced = 1
       and {{ states }}.state_from >= {{ day_end(as_of_date) }}
       and {{ states }}.state_from < {{ day_end(add_days(as_of_date, days)) }}
{%- endmacro %}
