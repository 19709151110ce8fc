{#- Models land in exactly the schema they configure (staging, intermediate, marts), never "<target>_<schema>":
    the schemas are the warehouse's contract with the rest of the pipeline. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{- (custom_schema_name or target.schema) | trim -}}
{%- endmacro %}
