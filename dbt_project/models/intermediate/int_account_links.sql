{{ config(**by_day('as_of_date', microbatch=false)) }}
{#- Linked accounts as of each day D: other accounts that share the payment fingerprint, the signup IP or the
    device (as of D), and how many of them are enforced as of D. Counted per shared value (group sizes), not
    by pairing accounts, so a value shared by thousands of accounts costs no more than one shared by two. -#}
{%- set links = {'payment': 'payment_fingerprint', 'signup_ip': 'signup_ip_hash', 'device': 'device_hash'} -%}

with snapshot as (
    select as_of_date, account_id, is_enforced, {{ links.values() | join(', ') }}
    from {{ ref('int_account_snapshot') }}
    where {{ in_window('as_of_date') }}
),

{% for link, column in links.items() %}
by_{{ link }} as (
    select as_of_date, {{ column }}, count(*) as accounts, sum(is_enforced) as enforced_accounts
    from snapshot
    where {{ column }} is not null
    group by as_of_date, {{ column }}
){{ ',' if not loop.last }}
{% endfor %}

select
    snapshot.as_of_date,
    snapshot.account_id
    {%- for link, column in links.items() %},
    cast(coalesce(by_{{ link }}.accounts - 1, 0) as {{ dbt.type_bigint() }}) as linked_{{ link }}_accounts,
    cast(coalesce(by_{{ link }}.enforced_accounts - snapshot.is_enforced, 0) as {{ dbt.type_bigint() }})
        as linked_{{ link }}_enforced_accounts
    {%- endfor %}
from snapshot
{%- for link, column in links.items() %}
left join by_{{ link }}
    on by_{{ link }}.as_of_date = snapshot.as_of_date and by_{{ link }}.{{ column }} = snapshot.{{ column }}
{%- endfor %}
