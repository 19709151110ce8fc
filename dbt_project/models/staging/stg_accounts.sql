-- Typed account versions, one row per (account_id, updated_at): accounts land as upserts, and the same version
-- may land twice (a re-sent snapshot); the most recently ingested copy wins.
with ranked as (
    select
        account_id,
        org_id,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        plan,
        signup_country,
        email_domain_kind,
        payment_fingerprint,
        cast(phone_verified as {{ dbt.type_boolean() }}) as phone_verified,
        signup_ip_hash,
        device_hash,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        row_number() over (
            partition by account_id, updated_at order by _ingested_at desc, _partition_date desc, _source_file desc
        ) as copy_rank
    from {{ source('raw', 'accounts') }}
)

select
    account_id,
    org_id,
    created_at,
    plan,
    signup_country,
    email_domain_kind,
    payment_fingerprint,
    phone_verified,
    signup_ip_hash,
    device_hash,
    updated_at,
    -- the version holds from its updated_at until the next version's (exclusive); null: still current
    lead(updated_at) over (partition by account_id order by updated_at) as superseded_at
from ranked
where copy_rank = 1
