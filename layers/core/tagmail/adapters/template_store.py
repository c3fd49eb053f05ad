"""Templates and their immutable versions in DynamoDB."""

from __future__ import annotations

import json

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from tagmail.adapters.dynamodb import TemplateItem, is_condition_failure, transaction_connection, unavailable
from tagmail.domain.templates import MailContent, Template, TemplateVersion
from tagmail.errors import Conflict

META = "meta"


def _version_sk(version: int) -> str:
    return f"v#{version:06d}"


class DynamoTemplates:
    def __init__(self, model: type[TemplateItem]) -> None:
        self._model = model

    def get(self, project_id: str, template_id: str) -> Template | None:
        try:
            item = self._model.get(f"{project_id}#{template_id}", META, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise unavailable(exc) from exc
        return _template_from_item(item)

    def list(self, project_id: str) -> list[Template]:
        try:
            return [_template_from_item(item) for item in self._model.by_project.query(project_id)]
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def get_version(self, project_id: str, template_id: str, version: int | None) -> TemplateVersion | None:
        pk = f"{project_id}#{template_id}"
        try:
            if version is not None:
                item = load_item_range(self._model, pk, _version_sk(version))
            else:
                latest = self._model.query(
                    pk, self._model.sk.startswith("v#"), scan_index_forward=False, limit=1, consistent_read=True
                )
                item = next(iter(latest), None)
        except PynamoDBException as exc:
            raise unavailable(exc) from exc
        return None if item is None else _version_from_item(item)

    def add_version(self, project_id: str, template: Template, version: TemplateVersion) -> None:
        """Write a new version and move the template's latest pointer in one transaction; a
        concurrent writer of the same version number makes this a Conflict, never an overwrite."""
        pk = f"{project_id}#{template.id}"
        meta = self._model(
            pk,
            META,
            template_id=template.id,
            project_id=project_id,
            name=template.name,
            latest_version=version.version,
            created_at=template.created_at,
            updated_at=template.updated_at,
        )
        item = self._model(
            pk,
            _version_sk(version.version),
            template_id=template.id,
            version=version.version,
            default_locale=version.default_locale,
            contents=json.dumps(
                {locale: vars(content) for locale, content in version.contents.items()}, ensure_ascii=False
            ),
            created_at=version.created_at,
        )
        expected = (
            self._model.sk.does_not_exist()
            if version.version == 1
            else self._model.latest_version == version.version - 1
        )
        try:
            with TransactWrite(connection=transaction_connection(self._model)) as transaction:
                transaction.save(meta, condition=expected)
                transaction.save(item, condition=self._model.sk.does_not_exist())
        except TransactWriteError as exc:
            if exc.cause_response_code == "TransactionCanceledException":
                raise Conflict(f"template {template.id} changed meanwhile; read it again and retry") from exc
            raise unavailable(exc) from exc
        except PynamoDBException as exc:
            if is_condition_failure(exc):
                raise Conflict(f"template {template.id} changed meanwhile") from exc
            raise unavailable(exc) from exc


def load_item_range(model: type[TemplateItem], hash_key: str, range_key: str) -> TemplateItem | None:
    try:
        return model.get(hash_key, range_key, consistent_read=True)
    except model.DoesNotExist:
        return None


def _template_from_item(item: TemplateItem) -> Template:
    return Template(
        id=item.template_id,
        project_id=item.project_id or "",
        name=item.name or "",
        latest_version=int(item.latest_version or 1),
        created_at=item.created_at,
        updated_at=item.updated_at or item.created_at,
    )


def _version_from_item(item: TemplateItem) -> TemplateVersion:
    contents = {
        locale: MailContent(subject=value["subject"], html=value["html"], text=value.get("text"))
        for locale, value in json.loads(item.contents or "{}").items()
    }
    return TemplateVersion(
        template_id=item.template_id,
        version=int(item.version or 0),
        created_at=item.created_at,
        contents=contents,
        default_locale=item.default_locale or next(iter(contents)),
    )
