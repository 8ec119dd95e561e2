"""NiceGUI main file for the simulated-user tests: the console pages without the API or a server."""

from nicegui import ui

from guanxi.console import register_pages

register_pages()
ui.run(storage_secret="console-tests", title="guanxi", language="zh-CN", show_welcome_message=False)
