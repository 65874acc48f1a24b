# language: ja
# 手順書「実施中チェックリスト」を実際の状態で確かめる: Alertmanager の
# サイレンス、ディスク上の記録、このメンテナンスのジャーナル。
@component:gateway @component:monitoring
機能: 実施中チェックリスト

  @id:during-maintenance-checklist
  シナリオ: 作業がサイレンスされ、記録され、各ステップで確認されている
    ならば このメンテナンスのアラートがサイレンスされている
    かつ 作業ログが記録されている
    かつ 実施した全手順が動作確認済みである
