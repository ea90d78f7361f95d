"""Writes for images: uploads and S3 registrations, labelling results, reviewers' decisions,
sections, confidence bands and per-market moderation policies.

Each service checks access first, then writes the change, its audit entry and the outbox rows of
every image whose shared item changes, in one transaction. An image's `version` grows whenever
its approved labels, sections, moderation labels or blocked markets change.
"""

from content.labels.services.bands import Band, bands_by_label, bands_set, global_band
from content.labels.services.base import MAX_FILES_PER_REQUEST, MAX_KEYS_PER_REQUEST, MODERATION_MAX_LEVEL
from content.labels.services.decisions import (
    DecisionResult,
    images_decide_pending,
    labels_approve_at_least,
    labels_decide,
)
from content.labels.services.images import UploadResult, image_link_item, images_register, images_upload
from content.labels.services.moderation import (
    moderation_policy_add,
    moderation_policy_delete,
    moderation_policy_set,
)
from content.labels.services.outcomes import image_labelling_failed, image_labels_store, label_job_retry
from content.labels.services.sections import (
    section_create,
    section_delete,
    section_mapping_add,
    section_mapping_delete,
    section_mapping_set,
    section_rename,
)

__all__ = [
    "Band",
    "DecisionResult",
    "MAX_FILES_PER_REQUEST",
    "MAX_KEYS_PER_REQUEST",
    "MODERATION_MAX_LEVEL",
    "UploadResult",
    "bands_by_label",
    "bands_set",
    "global_band",
    "image_labelling_failed",
    "image_labels_store",
    "image_link_item",
    "images_decide_pending",
    "images_register",
    "images_upload",
    "label_job_retry",
    "labels_approve_at_least",
    "labels_decide",
    "moderation_policy_add",
    "moderation_policy_delete",
    "moderation_policy_set",
    "section_create",
    "section_delete",
    "section_mapping_add",
    "section_mapping_delete",
    "section_mapping_set",
    "section_rename",
]
