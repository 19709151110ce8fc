{#- Fails on every row where a column whose name matches the regular expression `name_pattern` lies outside
    [min_value, max_value]. One query for all matching columns; fails if no column matches, so a renamed
    column cannot silently drop out of the check. -#}
{% test columns_between(model, name_pattern, min_value, max_value) %}
{%- set matching = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(model) -%}
        {%- if modules.re.search(name_pattern, column.name) -%}{% do matching.append(column.name) %}{%- endif -%}
    {%- endfor -%}
    {%- if not matching -%}
        {{ exceptions.raise_compiler_error("columns_between: no column of " ~ model ~ " matches " ~ name_pattern) }}
    {%- endif -%}
{%- endif -%}
select *
from {{ model }}
where false
{%- for column in matching %}
    or not ({{ column }} between {{ min_value }} and {{ max_value }})
{%- endfor %}
{% endtest %}
