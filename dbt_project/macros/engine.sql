{#- Where DuckDB and Spark store a model differently, the two forms live here (adapter.dispatch), so each model's
    SQL is written once and compiles for both targets (docs/scale-out.md).

    DuckDB (default__): a model whose rows belong to days is incremental, built one day per statement (dbt
    microbatch on `column`) or one window per statement (the project's replace_window strategy, `window_column`).

    Spark (spark__): Parquet partitioned by the day column; a build overwrites the window's partitions
    (insert_overwrite, dynamic partition overwrite) after dropping every one of them (pre-hook
    clear_window_partitions), so a day that now has no rows is cleared too, as replace_window clears it on DuckDB.
    dbt-spark has no custom incremental strategies and its microbatch needs the same partitioning, so one whole
    window per statement is Spark's form. -#}

{% macro by_day(column, offset_days=0, microbatch=true, spark_view=false) -%}
    {{ return(adapter.dispatch('by_day')(column, offset_days, microbatch, spark_view)) }}
{%- endmacro %}

{% macro default__by_day(column, offset_days, microbatch, spark_view) -%}
    {%- if microbatch -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'microbatch', 'event_time': column,
                   'batch_size': 'day', 'begin': '2000-01-01', 'concurrent_batches': false}) }}
    {%- endif -%}
    {{ return({'materialized': 'incremental', 'window_column': column, 'window_offset_days': offset_days}) }}
{%- endmacro %}

{% macro spark__by_day(column, offset_days, microbatch, spark_view) -%}
    {%- if spark_view -%}
        {#- `column` is a timestamp, no partition column: the window's rows are read where they are used -#}
        {{ return({'materialized': 'view'}) }}
    {%- endif -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite', 'file_format': 'parquet',
               'partition_by': [column], 'window_column': column, 'window_offset_days': offset_days,
               'pre_hook': ['{{ clear_window_partitions() }}']}) }}
{%- endmacro %}

{% macro clear_window_partitions() -%}
    {#- Spark: drop every partition of the window (shifted by window_offset_days) before it is written again. -#}
    {%- if is_incremental() -%}
        {%- set column = config.require('window_column') -%}
        {%- set first = window_day('min_date', config.get('window_offset_days', 0) | int) -%}
        alter table {{ this }} drop if exists
        {%- for i in range(window_days()) %}
            partition ({{ column }} = '{{ (first + modules.datetime.timedelta(days=i)).isoformat() }}')
            {{- ',' if not loop.last }}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}

{% macro register_raw_sources() -%}
    {{ return(adapter.dispatch('register_raw_sources')()) }}
{%- endmacro %}

{% macro default__register_raw_sources() -%}
    {#- DuckDB: ingestion writes raw.* into the warehouse itself -#}
{%- endmacro %}

{% macro spark__register_raw_sources() -%}
    {#- Spark: raw.<table> is the Parquet folder SAFEGUARD_SPARK_RAW/<table> that safeguard.spark_raw writes from
        ingestion's validated days (its files carry the schema); registered once, re-listed at every run. -#}
    {%- if execute -%}
        {%- set root = env_var('SAFEGUARD_SPARK_RAW') | replace("'", "") -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for source in graph.sources.values() if source.source_name == 'raw' -%}
            {%- do run_query("create table if not exists raw." ~ source.name ~ " using parquet location '"
                             ~ root ~ "/" ~ source.name ~ "'") -%}
            {%- do run_query("refresh table raw." ~ source.name) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
