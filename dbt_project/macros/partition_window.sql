{#- The partition window: vars min_date (inclusive) and max_date (exclusive), UTC days 'YYYY-MM-DD'.

    Windowed models build exactly the days of this window (shifted by offset_days where a model's rows
    belong to an earlier day, see fct_training_examples), so building a window is idempotent. -#}

{% macro window_day(name, offset_days=0) -%}
    {#- The window bound `name` shifted by `offset_days`, as a Python date. Checked only when executing: a
        parse needs no window. -#}
    {%- set batch = model.get('batch') if model is mapping else none -%}
    {%- if batch and batch.get('event_time_start') -%}
        {#- a microbatch model builds its window one batch (one day) at a time: the batch is its window -#}
        {%- set bound = batch.get('event_time_start') if name == 'min_date' else batch.get('event_time_end') -%}
        {%- set day = modules.datetime.datetime.fromisoformat(bound | string).date() -%}
        {{ return(day + modules.datetime.timedelta(days=offset_days)) }}
    {%- endif -%}
    {%- set raw = var(name, none) -%}
    {%- if raw is none or not modules.re.match('^\d{4}-\d{2}-\d{2}$', raw | string) -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error(
                "var '" ~ name ~ "' must be a UTC day 'YYYY-MM-DD' (got " ~ (raw | string) ~ "); build a partition "
                ~ "window with --vars '{\"min_date\": \"2026-09-01\", \"max_date\": \"2026-09-02\"}' (max_date exclusive)"
            ) }}
        {%- endif -%}
        {{ return(modules.datetime.date(1970, 1, 1)) }}
    {%- endif -%}
    {{ return(modules.datetime.date.fromisoformat(raw | string) + modules.datetime.timedelta(days=offset_days)) }}
{%- endmacro %}

{% macro window_days() -%}
    {#- Number of days in the window; refuses an empty or inverted window. -#}
    {%- set n = (window_day('max_date') - window_day('min_date')).days -%}
    {%- if execute and n < 1 -%}
        {{ exceptions.raise_compiler_error(
            "empty partition window: max_date " ~ var('max_date') ~ " must be after min_date " ~ var('min_date')) }}
    {%- endif -%}
    {#- a parse has no window: one day, so that a generate_series written in SQL (Spark's) still renders -#}
    {{ return(n if execute else [n, 1] | max) }}
{%- endmacro %}

{% macro window_bound(name, offset_days=0) -%}
    cast('{{ window_day(name, offset_days).isoformat() }}' as date)
{%- endmacro %}

{% macro in_window(column_expr, offset_days=0) -%}
    {#- `column_expr` (a date or a timestamp) falls in the window, shifted by offset_days. -#}
    {{ column_expr }} >= {{ window_bound('min_date', offset_days) }}
    and {{ column_expr }} < {{ window_bound('max_date', offset_days) }}
{%- endmacro %}

{% macro window_dates(column_name='as_of_date', offset_days=0) -%}
    {#- A relation with one row per day of the window (shifted by offset_days), in column `column_name`. -#}
    select
        cast({{ dbt.dateadd('day', 'generated_number - 1', window_bound('min_date', offset_days)) }} as date)
            as {{ column_name }}
    from ({{ dbt.generate_series(window_days()) }}) as series
{%- endmacro %}

{% macro day_end(day_expr) -%}
    {#- The exclusive end of UTC day `day_expr` as a timestamp: "as of D" means strictly before this. -#}
    cast({{ dbt.dateadd('day', 1, 'cast(' ~ day_expr ~ ' as ' ~ dbt.type_timestamp() ~ ')') }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro add_days(day_expr, n) -%}
    cast({{ dbt.dateadd('day', n, day_expr) }} as date)
{%- endmacro %}

{% macro label_horizon_days() -%}
    {%- set h = var('label_horizon_days') | int -%}
    {%- if execute and h < 1 -%}
        {{ exceptions.raise_compiler_error("var 'label_horizon_days' must be a positive number of days, got " ~ var('label_horizon_days')) }}
    {%- endif -%}
    {{ return(h) }}
{%- endmacro %}

{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double')()) }}
{%- endmacro %}

{#- dbt.type_float() is a 4-byte float on DuckDB; features and rates need 8 bytes everywhere. -#}
{% macro default__type_double() -%}
    {{ return('double precision') }}
{%- endmacro %}

{% macro spark__type_double() -%}
    {{ return('double') }}
{%- endmacro %}

{% macro duckdb__type_double() -%}
    {{ return('double') }}
{%- endmacro %}

{% macro safe_ratio(numerator, denominator) -%}
    {#- numerator / denominator as a double; 0 when the denominator is 0 or null (no activity is not missing). -#}
    case when coalesce({{ denominator }}, 0) > 0
         then cast({{ numerator }} as {{ type_double() }}) / {{ denominator }} else 0 end
{%- endmacro %}
