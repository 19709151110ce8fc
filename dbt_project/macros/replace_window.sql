{#- Incremental strategy `replace_window`: delete the window's days from the target, insert the new rows.

    Unlike delete+insert on a unique key it also clears a day that now has no rows at all (a re-landed empty
    day), so re-building a window replaces it exactly. Plain SQL, so it runs on any adapter. The model says
    which column holds its day (`window_column`) and, if its rows belong to days shifted from the partition
    window, by how many days (`window_offset_days`); its SQL must produce only rows inside that window. -#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
    {%- set column = config.require('window_column') -%}
    {%- set offset_days = config.get('window_offset_days', 0) | int -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ in_window(column, offset_days) }};

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
