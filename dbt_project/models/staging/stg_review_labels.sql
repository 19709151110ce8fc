-- Confirmed reviews, one row per account (its latest decision is a confirmation), typed for the warehouse.
select
    account_id,
    case_id,
    cast(confirmed_at as {{ dbt.type_timestamp() }}) as confirmed_at
from {{ source('raw', 'review_labels') }}
